"""Sphinx configuration of the mmrlkd docs (MyST markdown + autodoc).

Build (warnings are errors, as in CI's ``tests/test_docs_build.py``)::

    pip install -r requirements/docs.txt
    sphinx-build -W --keep-going -b html docs/en build/docs

The API reference imports the real package, so build inside the
environment of ``tools/setup_env.sh``: nothing is mocked, and a docstring
that does not render, or a page link that points nowhere, fails the build.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

import mmrlkd  # noqa: E402  (compat shims before autodoc imports mmrazor)

project = 'mmrlkd'
copyright = 'mmrlkd contributors'
author = 'mmrlkd contributors'
version = release = mmrlkd.__version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

# MyST: `page.md#a-heading` links resolve to headings up to level 3.
myst_heading_anchors = 3
myst_enable_extensions = ['colon_fence']

# autodoc: the registered components' own docstrings (Google style).
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
autodoc_typehints = 'none'
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = 'furo'
html_title = f'mmrlkd {release}'
html_static_path = []  # no theme overrides; page images are copied by Sphinx
