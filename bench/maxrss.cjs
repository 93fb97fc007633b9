// Preloaded into a measured child (node -r bench/maxrss.cjs ...): prints its peak RSS in KiB on exit.
process.on('exit', () => require('node:fs').writeSync(2, `maxrss=${process.resourceUsage().maxRSS}\n`));
