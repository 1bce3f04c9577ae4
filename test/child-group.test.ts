// ops/lib/child-group.mjs: the long commands ops runs beside the serving bot (npm ci, the incoming
// tests) run at a lower priority, and so does everything they start.
import os from 'node:os'
import t from 'tap'
import { GROUP_NICENESS, runGroup } from '../ops/lib/child-group.mjs'

t.test('child group: the command and its own children run niced, the ops script itself does not', async (t) => {
  const own = os.getPriority()
  // `nice` with no argument prints its niceness; the inner sh is a grandchild started by the outer one.
  const run = await runGroup('sh', ['-c', 'nice; sh -c nice'], { cwd: process.cwd(), env: process.env }).done
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, `${own + GROUP_NICENESS}\n${own + GROUP_NICENESS}\n`)
  t.equal(os.getPriority(), own, 'the ops script keeps its priority')
})
