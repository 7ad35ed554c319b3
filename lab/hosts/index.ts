/**
 * The host kinds the lab can simulate: every module of this folder is one kind, which registers itself
 * (core/registry.ts hostKind, registerPresets). They are all loaded here, so adding a kind is adding its module:
 * no list to keep by hand. The extension follows this module's own (.ts under vitest, .js once built).
 */
import { readdirSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const ext = extname(self);
const folder = new URL('./', import.meta.url);
const modules = readdirSync(folder)
  .filter((file) => file.endsWith(ext) && !file.endsWith(`.d${ext}`) && file !== basename(self))
  .sort();
for (const file of modules) {
  try {
    await import(new URL(file, folder).href);
  } catch (error) {
    // e.g. a kind registered twice by a module left behind in dist/ after a rename: name the file.
    throw new Error(`lab host kind module ${fileURLToPath(new URL(file, folder))}: ${(error as Error).message}`, { cause: error });
  }
}

export { capabilityOperations, registeredKinds, simulatorFor } from '../core/registry.js';
