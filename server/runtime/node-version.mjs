// The Node.js floor, checked before anything of ours loads: plain JavaScript, so an older Node can read it.
// Node runs our .ts files itself (type stripping is on by default from 22.18); older versions cannot.
const { process } = globalThis;
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ai-backend-service needs Node.js 22.18 or later (24 LTS recommended); this is ${process.version}. ` +
      'Install it from https://nodejs.org/ or with `npm install -g node@24`.\n',
  );
  process.exit(1);
}
