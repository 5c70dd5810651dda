import sys

from .study import STUDY

sys.exit(STUDY.main())
