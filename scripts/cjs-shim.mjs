// Injected into every .cjs file by scripts/build-cjs.mjs, which maps `import.meta.url` to this:
// the file: URL of the CommonJS file itself, as import.meta.url is for an ES module.
import { pathToFileURL } from 'node:url';

export const __gatewayErrorsModuleUrl = pathToFileURL(__filename).href;
