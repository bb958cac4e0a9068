"""The Flex Template's entry file (FLEX_TEMPLATE_PYTHON_PY_FILE, copied to /template/launch.py in
the image): the launcher runs it as a script, so it imports the package absolutely."""

import sys

from dataflow.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
