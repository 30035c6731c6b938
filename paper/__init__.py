"""The paper: figures and tables regenerated from committed result files."""
