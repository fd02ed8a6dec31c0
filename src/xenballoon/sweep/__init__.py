"""Sweeps: a scenario run over a grid of parameters and seeds, on Dask or an executor.

``xb.sweep(scenario, vary={"policy.name": ["qmemman", "squeezed"]}, seeds=4)`` returns a
pandas DataFrame with one row per run (`table`).  The grid (`grid`) is every combination of
the varied values times the seeds; the runs go out in batches (`runner`) to a dask Client, a
``concurrent.futures`` executor, or a local Dask cluster made for the sweep.
"""
