"""The paper: figures and tables regenerated from committed result files.

Not installed with the package: ``python -m paper.figures`` runs from the repository root
of a checkout and reads its ``results/`` folder.
"""
