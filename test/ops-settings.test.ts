// ops-settings: the toolkit reads .env and every setting exactly as the bot does — Node's own
// --env-file parser, the bot's schema, and what the serving bot recorded for a port of 0.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { healthPort } from '../ops/health.mjs'
import { notifyOwner } from '../ops/lib/notices.mjs'
import { readDotEnv } from '../ops/lib/paths.mjs'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { OWNER, tempDir } from './support/bot-harness.js'

const TRICKY = [
  'HEALTH_PORT=8787 # a comment after the value',
  'export LOG_LEVEL=warn',
  'DEFAULT_TIMEZONE="Europe/Berlin" # quoted',
  "ALLOWED_USER_IDS='123, 456'",
  'POLL_TIMEOUT_S = 20',
  '# a whole-line comment',
  'TELEGRAM_API_ROOT=http://127.0.0.1:8081/',
  '',
].join('\n')

t.test('ops-settings: .env values are exactly what node --env-file gives the bot', async (t) => {
  const dir = tempDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, '.env')
  fs.writeFileSync(file, TRICKY)
  const keys = ['HEALTH_PORT', 'LOG_LEVEL', 'DEFAULT_TIMEZONE', 'ALLOWED_USER_IDS', 'POLL_TIMEOUT_S', 'TELEGRAM_API_ROOT']
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !keys.includes(k)))
  const node = spawnSync(process.execPath, [`--env-file=${file}`, '-e', `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(keys)}.map((k) => [k, process.env[k]]))))`], { env, encoding: 'utf8' })
  t.equal(node.status, 0, node.stderr)
  const ours = readDotEnv(file)
  t.same(Object.fromEntries(keys.map((k) => [k, ours[k]])), JSON.parse(node.stdout))
  t.equal(ours.HEALTH_PORT, '8787', 'an inline comment is not part of the value')
})

t.test('ops-settings: health asks the port the serving bot recorded (HEALTH_PORT=0 means any free port)', async (t) => {
  const root = tempDir()
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  fs.writeFileSync(path.join(root, '.env'), 'HEALTH_PORT=0\n')
  const env = { MISTER_TODO_ROOT: root, PATH: process.env.PATH ?? '' }
  t.equal(await healthPort(env), 0, 'nothing serves: the configured value')
  fs.mkdirSync(path.join(root, 'storage', 'db'), { recursive: true })
  fs.writeFileSync(path.join(root, 'storage', 'db', 'serving.json'), JSON.stringify({ pid: process.pid, version: 'abc', healthPort: 43123, since: new Date().toISOString() }))
  t.equal(await healthPort(env), 43123, 'the port the serving process chose')
})

t.test('ops-settings: a bad id in ALLOWED_USER_IDS is named and no notice is sent, never silently dropped', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const hello = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, 'hello') // Telegram lets a bot write only to users who wrote to it
  await hello.catch(() => undefined)
  const lines: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => { lines.push(String(chunk)); return true }) as typeof process.stdout.write
  try {
    await notifyOwner({ TELEGRAM_BOT_TOKEN: emu.token, TELEGRAM_API_ROOT: emu.apiRoot, ALLOWED_USER_IDS: `${OWNER},12ab` }, 'deployed')
    await notifyOwner({ TELEGRAM_BOT_TOKEN: emu.token, TELEGRAM_API_ROOT: emu.apiRoot, ALLOWED_USER_IDS: `${OWNER}` }, 'deployed')
  } finally {
    process.stdout.write = write
  }
  t.match(lines[0], /^! notice {2}not sent: ALLOWED_USER_IDS has "12ab" which is not a numeric Telegram user id/)
  t.match(lines.at(-1), /^✓ notice {2}sent to the owner's chat/)
  t.same(emu.messages(OWNER).map((m) => m.text), ['deployed'], 'only the notice with a valid list was sent')
})
