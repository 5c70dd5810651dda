import sys

from .grid import STUDY

sys.exit(STUDY.main())
