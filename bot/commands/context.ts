// What a few commands need beyond the turn (issue 15's /forget and /stats): the update's
// transaction itself and who sent it. Set by the dispatcher for the length of one handler.
import type { Knex } from 'knex'
import type { Turn } from '../turn.js'

export type TurnContext = { trx: Knex.Transaction, userId: number | undefined }

const contexts = new WeakMap<Turn, TurnContext>()

export function setContext (turn: Turn, context: TurnContext): void {
  contexts.set(turn, context)
}

export function contextOf (turn: Turn): TurnContext {
  const context = contexts.get(turn)
  if (context === undefined) throw new Error('this command needs the update\'s transaction: it must run through createDispatch')
  return context
}
