// Loads only through a full TypeScript loader (an enum is not erasable syntax): the worker
// bootstrap imports it to learn whether module hooks are already in place.
enum Probe {
  Loaded,
}
export const probe: Probe = Probe.Loaded;
