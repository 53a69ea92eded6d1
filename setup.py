"""Install mmrlkd; the OpenMMLab pins are in requirements/mminstall.txt."""
import os.path as osp

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


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
    zip_safe=False,
)
