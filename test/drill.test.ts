// The restore drill (ops/backup.mjs --drill): a good backup restores into a scratch folder and the
// real bot, started on it against a private emulator, answers /list with the manifest's count; a
// damaged backup and one whose counts differ fail with one ✗ line naming the step.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { backup } from '../ops/backup.mjs'
import { createSandbox, type Sandbox } from './support/ops-sandbox.js'

const OWNER_ENV = { ALLOWED_USER_IDS: '1,77' }

async function boxWithBackup (t: Test): Promise<{ box: Sandbox, file: string, name: string }> {
  const box = await createSandbox(t, { tasks: 30 })
  const result = await backup({ root: box.root, env: { ...box.env, ...OWNER_ENV }, quiet: true })
  const file = result.file ?? ''
  return { box, file, name: path.basename(file) }
}

type Manifest = { size: number, sha256: string, owner: { chatId: number, openTasks: number } | null }
const readManifest = (file: string): Manifest => JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Manifest
const writeManifest = (file: string, m: Manifest): void => fs.writeFileSync(`${file}.json`, JSON.stringify(m))

t.test('drill: a good backup restores, starts the bot and answers /list in the owner\'s chat as the manifest says', async (t) => {
  const { box, name, file } = await boxWithBackup(t)
  t.match(readManifest(file).owner, { chatId: 1, openTasks: 27 }, 'the manifest records the owner\'s open tasks')
  box.addTasks(4)
  const before = { db: box.sha(box.dbFile), backups: box.backups() }
  const run = await box.run('backup', ['--drill'], OWNER_ENV)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, new RegExp(`^✓ drill {2}${name.replaceAll('.', '\\.')}: restored \\S+ kB, integrity ok, 30 tasks as in the manifest, schema current, the bot answered /list with 27 open in the owner's chat as the manifest says \\(\\d+\\.\\d s\\)\n$`))
  t.equal(run.stderr, '')
  t.same({ db: box.sha(box.dbFile), backups: box.backups() }, before, 'the live database and the backups are untouched')

  const json = await box.run('backup', ['--drill', '--json', '--backup', box.backupsDir], OWNER_ENV)
  t.equal(json.code, 0, json.stderr)
  t.match(JSON.parse(json.stdout), { ok: true, file, tasks: 30, openTasks: 27, chatId: 1, applied: [] })
})

t.test('drill: a backup whose bytes changed fails at verify, one whose pages are damaged fails at integrity', async (t) => {
  const { box, name, file } = await boxWithBackup(t)
  const bytes = fs.readFileSync(file)
  // Garbage over the middle of the third page (table b-tree pages), then the manifest made to match.
  for (let i = 2 * 4096 + 8; i < 3 * 4096; i += 1) bytes[i] = 0x5a
  fs.writeFileSync(file, bytes)
  const changed = await box.run('backup', ['--drill'], OWNER_ENV)
  t.equal(changed.code, 1)
  t.equal(changed.stdout, '')
  t.equal(changed.stderr, `✗ drill verify: ${name}: its sha256 does not match its manifest: the file was changed or damaged — see: npx zx ops/backup.mjs --list\n`)

  writeManifest(file, { ...readManifest(file), sha256: crypto.createHash('sha256').update(bytes).digest('hex') })
  const damaged = await box.run('backup', ['--drill', '--json'], OWNER_ENV)
  t.equal(damaged.code, 1)
  const outcome = JSON.parse(damaged.stdout) as { ok: boolean, step: string, error: string }
  t.match(outcome, { ok: false, step: 'drill integrity' })
  t.match(outcome.error, new RegExp(`^${name.replaceAll('.', '\\.')}: (integrity_check failed|cannot read it)`))
})

t.test('drill: a backup whose counts differ from its manifest fails at list, naming both figures', async (t) => {
  const { box, name, file } = await boxWithBackup(t)
  const manifest = readManifest(file)
  writeManifest(file, { ...manifest, owner: { chatId: 1, openTasks: 28 } })
  const run = await box.run('backup', ['--drill'], OWNER_ENV)
  t.equal(run.code, 1)
  t.equal(run.stderr, `✗ drill list: /list shows 27 open task(s) in the owner's chat 1, the manifest of ${name} says 28 — see: take a fresh backup: npx zx ops/backup.mjs\n`)
})

t.test('drill: open to anyone (ALLOWED_USER_IDS=*), the owner is OWNER_USER_ID, for the manifest and the drill', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const open = { ALLOWED_USER_IDS: '*', OWNER_USER_ID: '1' }
  const result = await backup({ root: box.root, env: { ...box.env, ...open }, quiet: true })
  t.match(readManifest(result.file ?? '').owner, { chatId: 1, openTasks: 27 })
  const run = await box.run('backup', ['--drill'], open)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /the bot answered \/list with 27 open in the owner's chat as the manifest says/)
})
