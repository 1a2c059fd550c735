"""samhq-train: training, evaluation and export of SAM-HQ, Light HQ-SAM, HQ-SAM 2 and HQ-SAM 3.

Nothing is downloaded at run time: albumentations asks pypi.org for its latest version on import
(a 2 s network timeout where there is no network) unless NO_ALBUMENTATIONS_UPDATE is set, so the
package sets it before any of its modules can import albumentations (a value the user set is
kept). Here, not in the commands, so that library use and every command are covered.
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
