"""A process that imports and loads once, then forks a child per job: the SIGKILL tests kill
real processes at random moments without paying Python's start-up and imports for each kill
(3 s on a quiet machine, 15 s and more on a loaded one, against well under a second of work).

The child is an ordinary process: SIGKILL ends it with no clean-up, exactly as it would end a
``python -m ...`` started afresh; the modules it imported beforehand touch nothing on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys

# setup (argv[1]) runs once and defines job(args) -> int, args being a job's JSON line on stdin;
# the job runs in a forked child, whose pid goes out first; the next line, "kill" or "wait",
# says how it ends (the server holds the child until then, so a pid is never reused under it)
SERVER = """
import json, os, signal, sys
namespace = {}
exec(sys.argv[1], namespace)
print("loaded", flush=True)
for line in iter(sys.stdin.readline, ""):
    pid = os.fork()
    if pid == 0:
        print("started", os.getpid(), flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            code = namespace["job"](json.loads(line))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            code = 1
        os._exit(code or 0)
    if sys.stdin.readline().strip() == "kill":
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    print("ended", os.waitstatus_to_exitcode(status), flush=True)
"""


class ForkServer:
    """``with ForkServer(setup, args=...) as server:`` then ``server.start(job_args)`` and
    ``server.wait()`` or ``server.kill()``, which give the child's exit status (-9 after
    SIGKILL). ``args`` are the server's ``sys.argv[2:]``."""

    def __init__(self, setup: str, args: list[str] = (), env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, setup, *args], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self._expect("loaded")
        except BaseException:
            self.__exit__()
            raise

    def _expect(self, word: str) -> str:
        line = self.proc.stdout.readline().split()
        assert line[:1] == [word], f"the fork server said {line}, not {word!r}"
        return line[1] if len(line) > 1 else ""

    def _say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def start(self, args: object = None) -> int:
        """Fork a child running ``job(args)``; its pid, once it runs."""
        self._say(json.dumps(args))
        return int(self._expect("started"))

    def wait(self) -> int:
        """The child's exit status once it has ended."""
        self._say("wait")
        return int(self._expect("ended"))

    def kill(self) -> int:
        """SIGKILL the child now (a no-op if it has already ended); its exit status."""
        self._say("kill")
        return int(self._expect("ended"))

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
