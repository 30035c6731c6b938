"""distill: the black box mobo tunes — BERT students distilled for SQuAD 2.0 QA.

Knows nothing of Gaussian processes: it turns a configuration into metrics
(``exact``, ``f1``, ``num_parameters``, ``inference_time``).
"""
