"""a2d: Attack as Defense (Zhao et al., ISSTA 2021), reproduced end to end.

Adversarial examples are less robust than benign inputs, so they are cheaper to attack. The
library is organised by what things are: ``data``, ``models``, ``training``, ``attacks``
(crafting), ``costs`` (attacks used as defence), ``robustness`` (CLEVER), ``detectors``,
``baselines`` and ``reporting``.
"""

__version__ = "0.1.0"
