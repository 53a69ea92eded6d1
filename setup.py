"""Install mmrlkd; the OpenMMLab pins are in requirements/mminstall.txt.

Besides the ``mmrlkd`` package, an install carries:

- ``mmrlkd_shim.py`` and ``mmrlkd_shim.pth``: the .pth makes the torch-2
  shim for mmrazor apply wherever the environment imports mmrazor (see
  ``mmrlkd_shim``);
- ``mmrlkd/.mim/{configs,tools,model-index.yml}``, where ``mim
  train/test/search mmrlkd`` look for them: copies in a regular install,
  links into the source tree in an editable one (ignored by git).
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
SHIM_PTH = 'mmrlkd_shim.pth'
SHIM_PTH_LINE = 'import mmrlkd_shim; mmrlkd_shim.install()\n'
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    """Specs of requirements/<name>.txt without comments and blanks."""
    with open(osp.join(ROOT, 'requirements', name)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


def read_version():
    namespace = {}
    with open(osp.join(ROOT, 'mmrlkd', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def link_mim_files():
    """``mmrlkd/.mim/<name>`` -> ``../../<name>`` in the source tree."""
    mim_root = osp.join(ROOT, 'mmrlkd', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in MIM_FILES:
        link, target = osp.join(mim_root, name), osp.join('..', '..', name)
        if osp.islink(link) and os.readlink(link) == target:
            continue
        if osp.islink(link) or osp.isfile(link):
            os.remove(link)
        elif osp.isdir(link):  # a copy left by an older set-up
            shutil.rmtree(link)
        os.symlink(target, link)


class BuildPy(build_py):
    """``build_py`` that also writes the shim's .pth and ``mmrlkd/.mim``.

    A regular build puts both in ``build_lib``, which becomes site-packages.
    An editable (PEP 660) build does not ship ``build_lib``; setuptools'
    ``editable_wheel`` points the install command's ``install_lib`` at the
    root of the wheel it is making, so the .pth goes there, and
    ``mmrlkd/.mim`` is made of links to the source tree's configs, tools and
    model index, so that edits show at once (as mmdet's setup.py does).
    """

    def run(self):
        super().run()
        if self.editable_mode:
            root = self.get_finalized_command('install').install_lib
        else:
            root = self.build_lib
        self.mkpath(root)
        with open(osp.join(root, SHIM_PTH), 'w') as f:
            f.write(SHIM_PTH_LINE)
        if self.editable_mode:
            link_mim_files()
        else:
            self._copy_mim_files()

    def _copy_mim_files(self):
        mim_root = osp.join(self.build_lib, 'mmrlkd', '.mim')
        for name in MIM_FILES:
            source, target = osp.join(ROOT, name), osp.join(mim_root, name)
            if osp.isdir(source):
                # Afresh, so files removed from the repository go too.
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(
                    source,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                self.mkpath(mim_root)
                shutil.copyfile(source, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        outputs.append(osp.join(self.build_lib, SHIM_PTH))
        mim_root = osp.join(self.build_lib, 'mmrlkd', '.mim')
        for folder, _, files in os.walk(mim_root):
            outputs.extend(osp.join(folder, name) for name in files)
        return outputs


setup(
    name='mmrlkd',
    version=read_version(),
    description='Instance-temperature knowledge distillation (RLKD, CTKD, '
    'DTKD, MTKD-RL) for MMPretrain and MMDetection',
    long_description=open(osp.join(ROOT, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    py_modules=['mmrlkd_shim'],
    include_package_data=True,
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        mim=read_requirements('mminstall.txt'),
        optional=read_requirements('optional.txt'),
        tests=read_requirements('tests.txt'),
    ),
    classifiers=[
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    cmdclass=dict(build_py=BuildPy),
    zip_safe=False,
)
