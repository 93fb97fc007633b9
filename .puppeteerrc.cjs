// puppeteer arrives as @mermaid-js/mermaid-cli's peer. It must never download a browser:
// CI and the diagrams workflow point it at an installed Chromium instead (docs/diagrams/puppeteer.json).
module.exports = { skipDownload: true };
