// ops' verify with several instances (ops/lib/instances.mjs): after a deploy or a rollback every
// instance must run the expected version and exactly one must lead. Real bot processes in webhook
// mode on the test run's PostgreSQL, each with its own health port.
import t from 'tap'
import { verifyInstances } from '../ops/lib/instances.mjs'
import { healthz, startCluster } from './support/instance-cluster.js'
import { exited } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

t.test('instances verify: every instance on the version and one leader passes; a wrong version or a dead instance is named', async (t) => {
  const c = await startCluster(t, 2)
  const ports = c.instances.map((i) => i.healthPort)
  await waitUntil(async () => (await Promise.all(ports.map(healthz))).filter((h) => h.instance.leads).length === 1, { what: 'one leader', timeoutMs: 15_000 })
  const version = ((await (await fetch(`http://127.0.0.1:${ports[0]}/healthz`)).json()) as { version: string }).version
  const leader = (await Promise.all(ports.map(healthz))).findIndex((h) => h.instance.leads)

  t.equal(await verifyInstances({ ports, commit: version, waitS: 0 }), `2 instances (health ports ${ports[0]}–${ports[1]}) run ${version.slice(0, 7)}, #${leader} leads`)
  await t.rejects(verifyInstances({ ports, commit: 'f00dfeed00000000000000000000000000000000', waitS: 0 }), {
    message: `instance #0 (127.0.0.1:${ports[0]}) runs ${version.slice(0, 7)}, expected f00dfee`,
  })
  // The leader dies: it is named; the survivor leads within seconds, which verify waits for.
  const dead = c.instances[leader]
  const survivor = ports[1 - leader]
  if (dead === undefined || survivor === undefined) throw new Error('no instances')
  dead.child.kill('SIGKILL')
  await exited(dead.child)
  await t.rejects(verifyInstances({ ports, commit: version, waitS: 0 }), { message: new RegExp(`^instance #${leader} \\(127\\.0\\.0\\.1:${ports[leader]}\\) does not answer /healthz \\(.*ECONNREFUSED.*\\)$`) })
  t.equal(await verifyInstances({ ports: [survivor], commit: version }), `1 instance (health port ${survivor}) runs ${version.slice(0, 7)}, #0 leads`, 'waits for the new leader')
})
