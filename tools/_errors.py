"""One line on stderr for an error, instead of a traceback.

Every tool's ``__main__`` runs ``sys.exit(run_tool(main))``: an exception
prints ``<tool>: error: <message>`` (its first line) and exits with status 1;
``--debug`` on the command line, or ``MMMAMBA_DEBUG=1``, shows the
traceback instead. ``main(argv)`` called from Python raises as usual.
"""
import os
import sys

DEBUG_ENV = 'MMMAMBA_DEBUG'
DEBUG_HELP = ('--debug (or MMMAMBA_DEBUG=1): show the traceback of an error '
              'instead of its one-line message')


class ToolError(Exception):
    """An error the user can fix; its message says what is wrong and what
    to do."""


def one_line(error):
    """The error's message on one line (its first line; KeyError's text
    without quotes)."""
    text = error.args[0] if isinstance(error, KeyError) and error.args \
        else str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_tool(main, argv=None, tool=None):
    """Run ``main(argv)``; returns the exit status (0, 1 on an error, 130 on
    Ctrl-C). ``argv`` defaults to ``sys.argv[1:]``, from which ``--debug``
    is removed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tool = tool or os.path.basename(sys.argv[0])
    debug = os.environ.get(DEBUG_ENV, '') not in ('', '0')
    if '--debug' in argv:
        argv.remove('--debug')
        debug = True
    try:
        main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f'{tool}: interrupted', file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (the one-line report)
        if debug:
            raise
        message = one_line(error)
        if not isinstance(error, (ToolError, OSError)):
            message += (f' ({type(error).__name__}; --debug shows the '
                        f'traceback)')
        print(f'{tool}: error: {message}', file=sys.stderr)
        return 1
    return 0
