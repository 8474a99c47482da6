"""Training a CLIP on curated data and zero-shot evaluation (issue 11), on open_clip and torch.

``model`` creates open_clip models (and registers the tiny ones in ``configs/``), ``data`` turns
pairs or a loader dataset into batches, ``recipe`` is MetaCLIP's optimiser and schedule, ``train``
the loop, ``checkpoint`` what it saves, ``zeroshot`` the evaluation. Nothing outside this package
imports torch: ``import metacurate`` stays light.
"""
