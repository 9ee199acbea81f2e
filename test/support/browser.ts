// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core,
// started with the flags this machine's closed network needs (no background connections).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
/** `test(…, { skip: SKIP_NO_CHROMIUM })`: false when Chromium is installed, else why the test is skipped */
export const SKIP_NO_CHROMIUM: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) to run the browser tests`;

/** A browser context with a fresh profile in `dir/chromium-profile`. */
export function launchChromium(dir: string, viewport: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport,
  });
}
