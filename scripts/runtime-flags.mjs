// @ts-check
// The node flags production runs the bot with (ecosystem.config.js gives them to PM2; the scale
// benchmark, bot and echo baseline alike, and the soak use them too). Measured in docs/decisions.md,
// "Memory: …".
// --max-semi-space-size=1: V8's young generation in 1 MB halves instead of up to 16 MB; the bot
// allocates little per update, so scavenges are more frequent but each is tiny.
// --max-old-space-size=64: the live heap is ~25 MB; without a cap V8 kept growing the heap it holds
// under bursts (54 → 117 MB over the soak's 50,000 updates, used flat at 24–28 MB). The largest
// export (10,000 tasks of 1,000 characters) fits under the cap and peaks lower (205 vs 297 MB RSS).
// --v8-pool-size=1: one V8 helper thread (background GC and compiling) instead of four. On the one
// or two cores this bot gets, more never ran at once, and each helper kept what it had malloc'ed
// in a glibc arena of its own: 6–12 MB after the scale bench's lists, for no measurable CPU.
// Only flags here: PM2's cluster mode hands a worker its `env` inside pm2_env and copies it into
// process.env after start, so a variable that glibc or libuv reads at start (MALLOC_*,
// UV_THREADPOOL_SIZE) never reaches them that way (docs/decisions.md, 2026-12-02 amendment).
export const RUNTIME_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64', '--v8-pool-size=1']
