"""man/rcleak.8 against what rcleak really prints: options, commands and exit
codes must match --help (and each 'rcleak help CMD'), README.md and the
parser, both ways, so that neither can change without the other."""
import os
import re
import shutil
import subprocess

from harness import ROOT, Skip, check, needs, run_rcleak

TESTS = ["test_man_options", "test_man_exit_codes", "test_man_commands", "test_man_renders"]

MAN = os.path.join(ROOT, "man", "rcleak.8")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _man_text():
    """The man page's words: roff escapes for '-' and fonts taken out."""
    s = _read(MAN)
    s = re.sub(r'(?m)^\.\\".*$', "", s)          # comments
    s = s.replace("\\-", "-").replace("\\&", "")
    s = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", s)  # \fB \fI \fR \fP
    s = re.sub(r"\\\(..", " ", s)                # \(em and the like
    return s


# a long option: not part of a longer word, not a pattern like --max-*
_LONG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w*-])")


def _longs(text):
    return set(_LONG.findall(text))


def _shorts(help_text):
    """-p of '-p, --ports': the option lines of --help."""
    return set(re.findall(r"(?m)^\s+-([a-zA-Z]), --[a-z]", help_text))


def _help(args=("--help",)):
    rc, out, err = run_rcleak(list(args))
    check(rc == 0, "rcleak %s: exit %s, expected 0 (stderr %r)" % (" ".join(args), rc, err[:200]))
    return out


def _commands(help_text):
    """run, record, ... of the Usage: lines."""
    usage = help_text.split("\n\n", 1)[0]
    return sorted(set(re.findall(r"(?m)^(?:Usage:)?\s+rcleak ([a-z]+)\b", usage)))


def _section(text, start, end_pat):
    i = text.find(start)
    check(i >= 0, "no %r in the text" % start)
    m = re.compile(end_pat, re.M).search(text, i + len(start))
    return text[i + len(start):m.start() if m else len(text)]


@needs("rcleak")
def test_man_options():
    man = _man_text()
    help_text = _help()
    cmds = [c for c in _commands(help_text) if c != "help"]
    check(cmds, "no commands found in the Usage: lines of --help")
    mlongs = _longs(man)
    for args in [("--help",)] + [("help", c) for c in cmds]:
        text = _help(args)
        missing = sorted(_longs(text) - mlongs)
        check(not missing, "rcleak %s prints options that man/rcleak.8 does not mention: %s"
              % (" ".join(args), ", ".join("--" + o for o in missing)))
    hlongs = _longs(help_text)
    extra = sorted(mlongs - hlongs)
    check(not extra, "man/rcleak.8 mentions options that rcleak --help does not: %s"
          % ", ".join("--" + o for o in extra))
    for c in sorted(_shorts(help_text)):
        check(re.search(r"(?<![\w-])-%s(?![\w-])" % c, man),
              "man/rcleak.8 does not mention -%s, which --help lists" % c)
    # the parser's table: an option added to opts.c but to neither text
    parsed = set(re.findall(r'\{ "([a-z][a-z-]*)", (?:no|required|optional)_argument',
                            _read(os.path.join(ROOT, "user", "opts.c"))))
    check(len(parsed) > 20, "read only %d options from user/opts.c's long_opts" % len(parsed))
    undoc = sorted(parsed - hlongs)
    check(not undoc, "user/opts.c parses options --help does not list: %s"
          % ", ".join("--" + o for o in undoc))
    unparsed = sorted(hlongs - parsed)
    check(not unparsed, "--help lists options user/opts.c does not parse: %s"
          % ", ".join("--" + o for o in unparsed))


@needs("rcleak")
def test_man_exit_codes():
    man = _section(_man_text(), "\n.SH EXIT STATUS", r"^\.SH ")
    man_codes = set(re.findall(r"(?m)^\.TP\n\.B (\d+)\s*$", man))
    check(man_codes, "no codes found under EXIT STATUS in man/rcleak.8")
    help_codes = set(re.findall(r"(?m)^  (\d+) ", _section(_help(), "\nExit codes:\n", r"^\S")))
    readme = _section(_read(os.path.join(ROOT, "README.md")), "\n### Exit codes\n", r"^#")
    readme_codes = set(re.findall(r"(?m)^\| (\d+) \|", readme))
    enum = set(re.findall(r"RCL_EXIT_[A-Z]+ = (\d+)", _read(os.path.join(ROOT, "user", "opts.h"))))
    for what, codes in (("rcleak --help", help_codes), ("README.md", readme_codes),
                        ("user/opts.h RCL_EXIT_*", enum)):
        check(man_codes == codes, "exit codes differ: man/rcleak.8 lists %s, %s lists %s"
              % (sorted(man_codes, key=int), what, sorted(codes, key=int)))


@needs("rcleak")
def test_man_commands():
    man = _man_text()
    synopsis = _section(man, "\n.SH SYNOPSIS", r"^\.SH ")
    for c in _commands(_help()):
        check(re.search(r'(?m)^\.SY "rcleak %s"' % c, synopsis),
              "man/rcleak.8's SYNOPSIS has no 'rcleak %s', which --help shows" % c)
    for c in set(re.findall(r'(?m)^\.SY "rcleak ([a-z]+)"', synopsis)) - {"help"}:
        rc, out, err = run_rcleak(["help", c])
        check(rc == 0, "man/rcleak.8 shows 'rcleak %s', but 'rcleak help %s' exits %s (%r)"
              % (c, c, rc, err[:200]))
    # a word help does not know is a usage error, not the help
    rc, out, err = run_rcleak(["help", "nosuchcmd"])
    check(rc == 2 and not out and len(err.strip().splitlines()) == 1,
          "rcleak help nosuchcmd: exit %s, expected 2 with one line on stderr (%r)" % (rc, err[:200]))


@needs()
def test_man_renders():
    if not shutil.which("groff"):
        raise Skip("groff not installed (bash tools/install-deps.sh --test installs groff-base)")
    p = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0 and not p.stderr.strip(),
          "groff -man -ww -z man/rcleak.8: exit %s: %s" % (p.returncode, p.stderr.strip()[:400]))
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80")
        p = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                           timeout=30, env=env)
        check(p.returncode == 0 and not p.stderr.strip() and "EXIT STATUS" in p.stdout,
              "man --warnings -l man/rcleak.8: exit %s: %s" % (p.returncode, p.stderr.strip()[:400]))
