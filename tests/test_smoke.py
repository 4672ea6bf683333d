"Smoke tests of the installed package and its console script."
import subprocess, sys
import crate_mae


def run(*args):
    "Run the `crate-mae` console script (through this Python) and return the finished process."
    return subprocess.run([sys.executable, "-c", "import sys; from crate_mae.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, timeout=300)


def test_version():
    assert crate_mae.__version__.count(".") == 2


def test_cli_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and crate_mae.__version__ in r.stdout
    r = run("--help")
    assert r.returncode == 0 and "check" in r.stdout


def test_cli_check_runs_the_self_test():
    r = run("check")
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "relative error" in r.stdout


def test_cli_unknown_command_fails_cleanly():
    r = run("no-such-command")
    assert r.returncode != 0 and "invalid choice" in r.stderr
