/**
 * Run names: flow runs get a random `adjective-adjective-animal` name (`great-amber-ammonite`,
 * two different adjectives); flow names are kebab-case. 257 adjectives × 256 × 225 animals ≈
 * 14.8 million names (a plain pair, 31,050 of them, made a duplicate likely after ~200 runs).
 * Two words cannot get to 10 million: that takes ~3,200 adjectives and as many animals, far
 * more than there are common, friendly ones.
 */

const ADJECTIVES = [
  "able", "adamant", "agile", "amber", "ancient", "arctic", "ardent", "astute", "aquatic", "azure", "bold", "brave",
  "bright", "brisk", "calm", "careful", "charming", "cheerful", "clever", "cobalt", "colorful", "cool", "cosmic",
  "crafty", "crimson", "curious", "dainty", "daring", "dazzling", "eager", "earnest", "electric", "elegant",
  "emerald", "energetic", "fancy", "fearless", "festive", "fiery", "flawless", "fluffy", "friendly", "gentle",
  "giga", "glorious", "golden", "graceful", "grand", "great", "handsome", "happy", "hardy", "helpful", "heroic",
  "honest", "humble", "icy", "impressive", "intrepid", "ivory", "jade", "jolly", "jovial", "keen", "kind",
  "lavender", "lively", "loyal", "lucky", "lunar", "magnetic", "majestic", "marvellous", "meek", "merry", "mighty",
  "modest", "neon", "nifty", "nimble", "noble", "olive", "optimistic", "orange", "outstanding", "patient", "peach",
  "placid", "polite", "proud", "quick", "quiet", "radiant", "rapid", "ruby", "rugged", "sage", "sandy", "sapphire",
  "scarlet", "serene", "shiny", "silver", "sincere", "smart", "snobbish", "solar", "sparkling", "spirited",
  "splendid", "steady", "stellar", "sturdy", "sunny", "swift", "tan", "teal", "tenacious", "thundering", "tidy",
  "tireless", "tough", "tranquil", "ultra", "upbeat", "valiant", "vehement", "velvet", "vigilant", "violet", "vivid",
  "wakeful", "warm", "wise", "witty", "xanthic", "zealous", "zippy", "abundant", "adventurous", "affable", "airy",
  "alert", "amiable", "amused", "aromatic", "artful", "autumn", "balmy", "beaming", "blissful", "blithe", "bouncy",
  "breezy", "bubbly", "buoyant", "candid", "carefree", "chipper", "chirpy", "classic", "cozy", "crisp", "cuddly",
  "dapper", "dashing", "dauntless", "devoted", "diligent", "dreamy", "dynamic", "earthy", "easy", "ecstatic",
  "enchanted", "epic", "exotic", "fabulous", "faithful", "fair", "fervent", "flying", "fond", "frank", "fresh",
  "frosty", "frugal", "funky", "gallant", "genial", "gleaming", "glowing", "gracious", "groovy", "hearty", "hopeful",
  "idyllic", "jaunty", "joyful", "jubilant", "kindly", "knowing", "laughing", "leafy", "legendary", "lithe", "lofty",
  "lucid", "luminous", "mellow", "mindful", "misty", "mystic", "natural", "nautical", "nocturnal", "opal", "peppy",
  "perky", "plucky", "poised", "polished", "precise", "prismatic", "quaint", "quirky", "rosy", "rustic", "savvy",
  "scenic", "snappy", "snowy", "spry", "stalwart", "starry", "stoic", "sublime", "sunlit", "supple", "tactful",
  "tender", "thrifty", "timely", "trusty", "twinkling", "unique", "urbane", "verdant", "vibrant", "vital",
  "whimsical", "wholesome", "wild", "windy", "wondrous", "youthful", "zesty",
];

const ANIMALS = [
  "aardvark", "albatross", "alligator", "alpaca", "ammonite", "anaconda", "angelfish", "ant", "antelope", "armadillo",
  "axolotl", "baboon", "badger", "barracuda", "bat", "bear", "beaver", "bee", "beetle", "bison", "bobcat", "buffalo",
  "butterfly", "camel", "capybara", "cardinal", "caribou", "cassowary", "cat", "caterpillar", "chameleon", "cheetah",
  "chicken", "chipmunk", "cicada", "clam", "cobra", "cockatoo", "condor", "corgi", "cormorant", "coua", "coyote",
  "crab", "crane", "cricket", "crocodile", "crow", "cuckoo", "deer", "dingo", "dodo", "dolphin", "donkey", "dove",
  "dragon", "dragonfly", "duck", "eagle", "eel", "egret", "elephant", "elk", "emu", "falcon", "ferret", "finch",
  "firefly", "flamingo", "fox", "frog", "gazelle", "gecko", "gerbil", "gibbon", "giraffe", "gnu", "goose", "gopher",
  "gorilla", "grasshopper", "grebe", "griffin", "grouse", "gull", "hamster", "hare", "hawk", "hedgehog", "heron",
  "hippo", "hornet", "horse", "hound", "hummingbird", "hyena", "ibex", "ibis", "iguana", "impala", "jackal",
  "jaguar", "jellyfish", "kangaroo", "kestrel", "kingfisher", "kiwi", "koala", "koi", "lemming", "lemur", "leopard",
  "lion", "lizard", "llama", "lobster", "loon", "lynx", "macaw", "magpie", "mammoth", "manatee", "mandrill",
  "mantis", "marmot", "marten", "meerkat", "mink", "mole", "mongoose", "moose", "mouse", "narwhal", "newt",
  "nightingale", "ocelot", "octopus", "okapi", "orca", "oriole", "oryx", "osprey", "ostrich", "otter", "owl", "ox",
  "panda", "panther", "parakeet", "parrot", "partridge", "peacock", "pelican", "penguin", "petrel", "pheasant",
  "pig", "pika", "platypus", "pony", "porcupine", "porpoise", "puffin", "puma", "python", "quail", "quokka",
  "rabbit", "raccoon", "raven", "reindeer", "rhino", "robin", "salamander", "salmon", "sawfish", "scorpion",
  "seahorse", "seal", "shark", "sheep", "shrew", "skunk", "sloth", "snail", "snake", "sparrow", "spider", "squid",
  "squirrel", "starfish", "stingray", "stork", "swan", "tapir", "tarsier", "termite", "tern", "tiger", "toad",
  "tortoise", "toucan", "trout", "tuna", "turkey", "turtle", "unicorn", "urchin", "vicuna", "viper", "vole",
  "vulture", "walrus", "wallaby", "warthog", "wasp", "weasel", "whale", "wolf", "wolverine", "wombat", "woodpecker",
  "wren", "yak", "zebra",
];

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** How many names randomRunName can make. */
export const RUN_NAME_SPACE = ADJECTIVES.length * (ADJECTIVES.length - 1) * ANIMALS.length;

export function randomRunName(): string {
  const first = Math.floor(Math.random() * ADJECTIVES.length);
  // the second adjective differs from the first: no `calm-calm-otter`
  const second = (first + 1 + Math.floor(Math.random() * (ADJECTIVES.length - 1))) % ADJECTIVES.length;
  return `${ADJECTIVES[first]}-${ADJECTIVES[second]}-${pick(ANIMALS)}`;
}

/** `getRepoInfo` → `get-repo-info`, `get_repo_info` → `get-repo-info`, `ETLJob` → `etl-job`. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/[\s_]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase();
}
