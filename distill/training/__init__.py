"""Training: the one loop (``loop``) and what it is built from.

``loop`` runs any training (resume, checkpoints, evaluation cadence, early stopping, progress);
``checkpoints`` is what it writes to resume exactly; ``precision`` the device, autocast and the
optimizer step; ``losses`` the distillation losses; ``distillation`` the student's job on the loop
(the teacher's fine-tune is ``teachers.finetune``); ``tagging_losses`` and ``tagging`` the same for a
tagging student, one tag per character.
"""
