// @ts-check
// The `$` the ops scripts run commands with: zx's, through `bash --norc`. Node hands a child its
// stdio as a socket pair, and bash takes a socket on stdin for a remote shell (rshd, sshd) and
// reads ~/.bashrc before each `bash -c`: on a machine whose .bashrc runs `pyenv init` or nvm that
// was 100–300 ms and dozens of processes per command (37 commands in a deploy), and the operator's
// interactive settings leaked into the deploy's commands.
import path from 'node:path'
import { $ } from 'zx'

$.shell = path.join(import.meta.dirname, 'bash-norc.sh')

export { $ }
