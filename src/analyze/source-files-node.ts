// The Node.js reader of scripts and source maps for SourceMapResolver (source-maps.ts), installed
// by importing this module: the Node.js entry points (the package's index and analyze-trace) do;
// the browser viewer does not, and maps nothing.

import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { installSourceFiles, type SourceFiles } from './source-maps.js';

/** Scripts and maps above this size are not read: a trace names them, and the CLI must stay quick. */
const MAX_FILE_BYTES = 64 << 20;

export const nodeSourceFiles: SourceFiles = {
  read(path: string): string | undefined {
    try {
      const st = statSync(path);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) return undefined;
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  resolveBeside(scriptPath: string, url: string): string {
    return resolve(dirname(scriptPath), url);
  },
};

installSourceFiles(nodeSourceFiles);
