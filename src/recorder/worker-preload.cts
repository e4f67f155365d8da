// The --require preload of traced workers. --require runs for every worker, including those
// created with eval: true, which ignore --import on Node 20. It loads the ES module that does the
// work through require(esm), and stays silent if that is unavailable.
try {
  require('./worker-attach.js');
} catch {
  // Without require(esm) the worker is not traced; it runs as if looptrace were absent.
}
