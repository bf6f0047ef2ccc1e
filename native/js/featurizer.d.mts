// Types for importing featurizer.mjs by its path (TypeScript looks for .d.mts next to a .mjs file).
export * from "./featurizer.js";
