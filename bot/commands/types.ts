// What a command handler is: a function of the turn and the text after the command.
import type { Turn } from '../turn.js'

export type CommandHandler = (turn: Turn, args: string) => Promise<void>

export type CommandSpec = { name: string, description: string, handler: CommandHandler, menu?: boolean }
