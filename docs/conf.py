"""Sphinx configuration of the emimpute documentation."""

import emimpute

project = "emimpute"
author = "The emimpute developers"
copyright = "The emimpute developers"
version = release = emimpute.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# No intersphinx: the docs must build without network access.

# examples/ holds the gallery sources; sphinx-gallery turns them into
# auto_examples/.
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
default_role = "literal"

autosummary_generate = True
# numpydoc lists the methods itself; autosummary stubs for each of them
# would only duplicate the class page.
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    # An example that raises fails the build instead of showing a traceback.
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    # The timing pages are build output that would land in the source tree.
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
# Code blocks wrap long lines (docs/_static/custom.css).
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = f"emimpute {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_sidebars = {"install": [], "index": []}


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request methods for methods with
    # extra parameters (such as transform's return_std); they are documented
    # by scikit-learn, with references this site cannot resolve.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
