// Public API of looptrace. Anything exported here is part of the package's contract. The native
// binding is not: it is an implementation detail that only src/binding.ts loads. Tool authors who
// want only the decoder or only the analyses import looptrace/format or looptrace/analyze, which
// load no native code.
export * from './recorder/index.js';
export * from './format/index.js';
export * from './analyze/index.js';
export * from './operations/index.js';
