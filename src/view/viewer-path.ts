// Where the build puts the viewer page: next to the view modules in dist/view.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function viewerHtmlPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'viewer.html');
}
