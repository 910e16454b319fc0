// npm run sdk:pack: regenerates the SDK's router types from the server and packs it into build/; the package's
// own prepack compiles dist/ (so `npm pack ./client-sdk` in a fresh clone ships it too).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
execFileSync(process.execPath, ['--import', './server/preload.mjs', 'scripts/sdk-generate.ts'], { cwd: root, stdio: 'inherit' });
mkdirSync(join(root, 'build'), { recursive: true });
const out = execFileSync(npm, ['pack', './client-sdk', '--pack-destination', 'build', '--json'], { cwd: root, encoding: 'utf8' });
const [{ filename, size, unpackedSize, files }] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] }[];
console.log(`build/${filename}: ${size} bytes packed, ${unpackedSize} unpacked`);
for (const file of files) console.log(`  ${file.path} ${file.size}`);
