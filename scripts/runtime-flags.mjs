// @ts-check
// The node flags production runs the bot with (ecosystem.config.js gives them to PM2; the scale
// benchmark and the soak use them too). Measured in docs/decisions.md, "Memory: …".
// --max-semi-space-size=1: V8's young generation in 1 MB halves instead of up to 16 MB; the bot
// allocates little per update, so scavenges are more frequent but each is tiny.
export const RUNTIME_NODE_FLAGS = ['--max-semi-space-size=1']
