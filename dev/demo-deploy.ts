// One-off (not committed): a real deploy with a lockfile change (npm ci) and real incoming tests, no TTY.
import fs from 'node:fs'
import path from 'node:path'
import { createDeploySandbox } from '../test/support/deploy-sandbox.js'

const s = await createDeploySandbox()
try {
  await s.ask('/help', 30_000)
  const to = s.push('bump the package version (lockfile change)', (dir) => {
    for (const file of ['package.json', 'package-lock.json']) {
      const p = path.join(dir, file)
      const json = JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string, packages?: Record<string, { version?: string }> }
      json.version = '0.1.999'
      const root = json.packages?.['']
      if (root !== undefined) root.version = json.version
      fs.writeFileSync(p, JSON.stringify(json, null, 2) + '\n')
    }
  })
  const t0 = Date.now()
  const run = await s.runScript('deploy', ['--yes', '--offline', '--watch', '3', '--test-command', process.env.DEMO_TESTS ?? 'npm test -- test/config.test.ts test/due-dates.test.ts test/access.test.ts test/hostile-input.test.ts'], { env: { MISTER_TODO_PROGRESS_INTERVAL_S: '15' } })
  process.stdout.write(run.stdout + run.stderr + `\nexit ${run.code}, ${(Date.now() - t0) / 1000} s, head ${s.head() === to ? 'moved' : 'NOT moved'}\n`)
} finally {
  await s.close()
}
