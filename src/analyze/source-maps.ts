// Source maps for the frames of sampled stacks: a frame of built code (bundled or compiled
// TypeScript) is mapped to the line users wrote, when the script and its map are on this machine.
// Each script is read once: the script named by the frame (an absolute path or a file: URL), its
// last `//# sourceMappingURL=` comment (a file next to it or an inline data: URL), then the map,
// through @jridgewell/trace-mapping. What could not be mapped is summed up once per report, not
// per frame, so the user knows which locations are as recorded.

//
// This module reads no files itself, so that the browser viewer can bundle the analyzer: a
// SourceFiles reader does (src/analyze/source-files-node.ts, which the Node.js entry points
// install). Without one, nothing is mapped and the summary says that no script was on hand.

import { AnyMap, originalPositionFor, type TraceMap } from '@jridgewell/trace-mapping';

/** How the resolver reaches scripts and maps on disk. */
export interface SourceFiles {
  /** The text of a regular file small enough to read, or undefined. */
  read(path: string): string | undefined;
  /** The path that `url` (a sourceMappingURL, not data: and not file:) names beside `scriptPath`. */
  resolveBeside(scriptPath: string, url: string): string;
}

let installedFiles: SourceFiles | undefined;

/** Installs the reader that SourceMapResolvers created from now on use (Node.js entry points do). */
export function installSourceFiles(files: SourceFiles): void {
  installedFiles = files;
}
/** At most this many scripts are named in each list of the summary; the count covers all. */
const MAX_LISTED_SCRIPTS = 5;

/** Where a frame's code was written, 1-based like the frame's own line and column. */
export interface OriginalPosition {
  /** The original source as a path (file: sources are shown as paths), or as the map names it. */
  source: string;
  line: number;
  column: number;
  /** The map's name at that position, when it has one. */
  name: string | null;
}

export interface SourceMapSummary {
  enabled: boolean;
  /** Scripts whose frames were mapped, with their map ("inline" for a data: URL). */
  mapped: { script: string; map: string }[];
  /** Scripts that look built (a sourceMappingURL, or dist/build/out in the path, or minified) but have no usable map. */
  missing: { script: string; reason: string }[];
  /** Scripts named by frames that are not files on this machine: their locations are as recorded. */
  notOnThisMachine: string[];
  /** How many scripts each list holds in all (the lists name at most five). */
  counts: { mapped: number; missing: number; notOnThisMachine: number };
}

type ScriptState =
  | { kind: 'mapped'; map: TraceMap; mapName: string }
  | { kind: 'plain' }
  | { kind: 'missing'; reason: string }
  | { kind: 'absent' }
  | { kind: 'not-a-file' };

/**
 * Turns a script name as V8 reports it into a file path: absolute paths stay as they are, file:
 * URLs become paths; anything else (node:…, eval, http:) is not a file, and gives undefined.
 */
export function scriptPath(script: string): string | undefined {
  if (script.startsWith('file:')) {
    try {
      const url = new URL(script);
      if (url.host !== '' && url.host !== 'localhost') return undefined;
      return decodeURIComponent(url.pathname);
    } catch {
      return undefined;
    }
  }
  return script.startsWith('/') ? script : undefined;
}

/** The file: URL of an absolute path. */
function fileUrl(path: string): string {
  return `file://${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** A script name for people: file: URLs as paths, everything else as recorded. */
export function displayScript(script: string): string {
  return script.startsWith('file:') ? (scriptPath(script) ?? script) : script;
}

export class SourceMapResolver {
  readonly enabled: boolean;
  private readonly scripts = new Map<string, ScriptState>();
  private readonly files: SourceFiles | undefined;

  constructor(enabled = true, files: SourceFiles | undefined = installedFiles) {
    this.enabled = enabled;
    this.files = files;
  }

  /** The original position of a 1-based line and column in `script`, or null when there is none. */
  map(script: string, line: number, column: number): OriginalPosition | null {
    if (!this.enabled || script === '' || line <= 0) return null;
    const state = this.state(script);
    if (state.kind !== 'mapped') return null;
    let found;
    try {
      found = originalPositionFor(state.map, { line, column: Math.max(0, column - 1) });
    } catch {
      return null;
    }
    if (found.source === null || found.line === null) return null;
    return { source: displayScript(found.source), line: found.line, column: found.column + 1, name: found.name };
  }

  summary(): SourceMapSummary {
    const mapped: SourceMapSummary['mapped'] = [];
    const missing: SourceMapSummary['missing'] = [];
    const notOnThisMachine: string[] = [];
    for (const [script, state] of this.scripts) {
      if (state.kind === 'mapped') mapped.push({ script: displayScript(script), map: state.mapName });
      else if (state.kind === 'missing') missing.push({ script: displayScript(script), reason: state.reason });
      else if (state.kind === 'absent') notOnThisMachine.push(displayScript(script));
    }
    return {
      enabled: this.enabled,
      mapped: mapped.slice(0, MAX_LISTED_SCRIPTS),
      missing: missing.slice(0, MAX_LISTED_SCRIPTS),
      notOnThisMachine: notOnThisMachine.slice(0, MAX_LISTED_SCRIPTS),
      counts: { mapped: mapped.length, missing: missing.length, notOnThisMachine: notOnThisMachine.length },
    };
  }

  private state(script: string): ScriptState {
    let state = this.scripts.get(script);
    if (state === undefined) {
      state = this.files === undefined ? { kind: 'absent' } : load(script, this.files);
      this.scripts.set(script, state);
    }
    return state;
  }
}

function load(script: string, files: SourceFiles): ScriptState {
  const path = scriptPath(script);
  if (path === undefined) return { kind: 'not-a-file' };
  const text = files.read(path);
  if (text === undefined) return { kind: 'absent' };
  const url = lastSourceMappingUrl(text);
  if (url === undefined) {
    return looksBuilt(path, text) ? { kind: 'missing', reason: 'no sourceMappingURL comment in the script' } : { kind: 'plain' };
  }
  let json: string | undefined;
  let mapUrl: string;
  let mapName: string;
  if (url.startsWith('data:')) {
    json = decodeDataUrl(url);
    if (json === undefined) return { kind: 'missing', reason: 'its inline source map is not a JSON data: URL' };
    mapUrl = fileUrl(path);
    mapName = 'inline';
  } else {
    const mapPath = url.startsWith('file:') ? scriptPath(url) : /^[a-z][a-z0-9+.-]*:/i.test(url) ? undefined : files.resolveBeside(path, safeDecode(url));
    if (mapPath === undefined) return { kind: 'missing', reason: `its source map ${url} is not a file` };
    json = files.read(mapPath);
    if (json === undefined) return { kind: 'missing', reason: `its source map ${mapPath} cannot be read` };
    mapUrl = fileUrl(mapPath);
    mapName = mapPath;
  }
  try {
    return { kind: 'mapped', map: new AnyMap(json, mapUrl), mapName };
  } catch (error) {
    return { kind: 'missing', reason: `its source map ${mapName} is not valid (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** The URL of the last `//# sourceMappingURL=` (or the older `//@`) comment, which is the one that counts. */
function lastSourceMappingUrl(text: string): string | undefined {
  const re = /\/\/[#@][ \t]*sourceMappingURL=([^\s'"]+)[ \t]*$/gm;
  let last: string | undefined;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m[1];
  return last;
}

function decodeDataUrl(url: string): string | undefined {
  const comma = url.indexOf(',');
  if (comma < 0) return undefined;
  const meta = url.slice(5, comma).toLowerCase();
  if (!meta.startsWith('application/json')) return undefined;
  const data = url.slice(comma + 1);
  if (!meta.endsWith(';base64')) return safeDecode(data);
  try {
    const binary = atob(data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new TextDecoder().decode(bytes);
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Output of a build step: under dist/, build/ or out/, or minified (a very long first line). */
function looksBuilt(path: string, text: string): boolean {
  if (/[\\/](dist|build|out)[\\/]/.test(path)) return true;
  const firstLineEnd = text.indexOf('\n');
  return (firstLineEnd < 0 ? text.length : firstLineEnd) > 1000;
}
