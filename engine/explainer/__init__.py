"""The explainer engine: a post's blocks run and stored, its figures, its notebook.

Portable core (posts, blocks, outputs, notebook, export, figures) with a thin MkDocs
layer (plugin). Without MkDocs: ``python -m explainer run|figures|download|new-post``.
"""
