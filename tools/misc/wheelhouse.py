"""Fill, check and install a wheelhouse for a machine without network.

Used by ``tools/setup_env.sh --wheelhouse`` (on a connected machine) and
``--offline`` (on the node); runs on any Python >= 3.8 with pip.

    python wheelhouse.py download DIR --python-version 3.12 \
        --platform manylinux_2_28_x86_64 [--freeze FILE] -r REQS...
    python wheelhouse.py verify DIR [--freeze FILE | --installed]
    python wheelhouse.py plan DIR        # wheels the running Python lacks

``download`` resolves the requirements one level at a time: it asks pip for
each missing distribution (``pip download --no-deps`` for the target Python
and platform, wheels only, except the sdists named by ``--sdist``), reads
the requirements of what it got, with their markers evaluated for the
target, and repeats until nothing is missing. What the node already has
(``--freeze``: its ``pip freeze``) and torch/torchvision (the node's own
build) are never downloaded. ``SHA256SUMS`` and ``wheelhouse.json`` (the
target, the freeze, the top-level requirements) are written beside the
files.

``verify`` checks that every requirement of every distribution in DIR,
for the target, is met by a distribution in DIR or in the freeze (or, with
``--installed``, in the running Python's environment), and the checksums.

OpenCV: mmengine's wheel and mmcv's sdist require ``opencv-python``; any
distribution that provides ``cv2`` meets that (the node above has
``opencv-python-headless``). Where none is present, the headless wheel is
downloaded; installs are made with ``--no-deps`` in the order this tool
resolved, so pip never fetches the GUI one.
"""
import argparse
import email.parser
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import tarfile
import zipfile

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import (canonicalize_name, parse_sdist_filename,
                                 parse_wheel_filename)
    from packaging.version import Version
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.tags import compatible_tags, cpython_tags
    from pip._vendor.packaging.utils import (canonicalize_name,
                                             parse_sdist_filename,
                                             parse_wheel_filename)
    from pip._vendor.packaging.version import Version

#: Provided by the node's own torch build; never downloaded.
NODE_PROVIDED = ('torch', 'torchvision')
#: Distributions that provide the ``cv2`` module.
OPENCV = ('opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
          'opencv-contrib-python-headless')
OPENCV_DOWNLOAD = 'opencv-python-headless'
SUMS = 'SHA256SUMS'
MANIFEST = 'wheelhouse.json'


# ---------------------------------------------------------------- reading
def read_requirement_lines(paths):
    """Requirement specs of requirement files (``-r`` followed), in order."""
    specs = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.split('#')[0].strip()
                if line.startswith('-r '):
                    specs += read_requirement_lines(
                        [osp.join(osp.dirname(path), line[3:].strip())])
                elif line and not line.startswith('-'):
                    specs.append(line)
    return specs


def read_freeze(path):
    """``{name: version or None}`` of a ``pip freeze`` output."""
    found = {}
    if not path:
        return found
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line or line.startswith('-'):
                continue
            if ' @ ' in line:  # name @ URL: present, version unknown
                found[canonicalize_name(line.split(' @ ')[0])] = None
            elif '==' in line:
                name, version = line.split('==', 1)
                found[canonicalize_name(name)] = version.strip()
    return found


def installed_distributions():
    """``{name: version}`` of the running Python's environment."""
    from importlib import metadata
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata['Name']
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def _requires_txt(text):
    """Requirements of an egg-info ``requires.txt`` (extras left out)."""
    specs, marker = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('['):
            section = line[1:-1]
            extra, _, marker = section.partition(':')
            marker = None if extra else (marker or None)
            if extra:
                marker = False  # an extra's section: not installed
            continue
        if line and marker is not False:
            specs.append(f'{line}; {marker}' if marker else line)
    return specs


def distribution_file(path):
    """``(name, version, [requirement specs])`` of a wheel or an sdist."""
    base = osp.basename(path)
    if base.endswith('.whl'):
        name, version, _, _ = parse_wheel_filename(base)
        with zipfile.ZipFile(path) as z:
            meta = next(n for n in z.namelist()
                        if n.endswith('.dist-info/METADATA'))
            message = email.parser.Parser().parsestr(
                z.read(meta).decode('utf-8'))
        return str(name), str(version), message.get_all('Requires-Dist', [])
    name, version = parse_sdist_filename(base)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        pkg_info = next(
            n for n in members
            if n.count('/') == 1 and n.endswith('/PKG-INFO'))
        message = email.parser.Parser().parsestr(
            tar.extractfile(members[pkg_info]).read().decode('utf-8'))
        specs = message.get_all('Requires-Dist', [])
        requires = [
            n for n in members
            if n.count('/') == 2 and n.endswith('.egg-info/requires.txt')
        ]
        if not specs and requires:
            specs = _requires_txt(
                tar.extractfile(members[requires[0]]).read().decode('utf-8'))
    return str(name), str(version), specs


def folder_distributions(folder):
    """``{name: (version, file, specs)}`` of the files in a wheelhouse."""
    found = {}
    for base in sorted(os.listdir(folder)):
        if base.endswith(('.whl', '.tar.gz')):
            name, version, specs = distribution_file(osp.join(folder, base))
            found[canonicalize_name(name)] = (version, base, specs)
    return found


# ---------------------------------------------------------------- target
def target_environment(python_version, platform):
    """Marker environment of the target (not of the running Python)."""
    env = default_environment()
    machine = 'aarch64' if 'aarch64' in platform else 'x86_64'
    env.update(
        python_version=python_version,
        python_full_version=f'{python_version}.0',
        implementation_name='cpython',
        platform_python_implementation='CPython',
        sys_platform='linux',
        platform_system='Linux',
        os_name='posix',
        platform_machine=machine)
    return env


def applies(requirement, environment):
    """Whether a requirement (no extra asked for) applies to the target."""
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate(dict(environment, extra=''))


def target_tags(python_version, platforms):
    major, minor = (int(x) for x in python_version.split('.')[:2])
    tags = list(cpython_tags((major, minor), platforms=platforms)) + list(
        compatible_tags((major, minor), platforms=platforms))
    return {str(tag) for tag in tags}


def satisfied(requirement, versions):
    """Whether ``versions`` (name -> version or None) meet a requirement."""
    names = [canonicalize_name(requirement.name)]
    if names[0] in OPENCV:
        names = list(OPENCV)
    for name in names:
        if name in versions:
            version = versions[name]
            if version is None or name != names[0] or \
                    requirement.specifier.contains(
                        Version(version).public, prereleases=True):
                return True
    return False


# ---------------------------------------------------------------- download
def pip_download(dest, specs, args, sdist=False):
    command = [
        sys.executable, '-m', 'pip', 'download', '--no-deps',
        '--disable-pip-version-check', '-q', '-d', dest
    ]
    if sdist:
        command += ['--no-binary', ':all:']
    else:
        command += [
            '--only-binary', ':all:', '--python-version', args.python_version,
            '--implementation', 'cp', '--abi',
            'cp' + args.python_version.replace('.', '')
        ]
        for platform in args.platform:
            command += ['--platform', platform]
    env = dict(os.environ)
    if sdist:
        # pip prepares an sdist's metadata in an isolated build environment
        # with the newest setuptools; mmcv's setup.py needs pkg_resources,
        # which setuptools 82 removed.
        constraints = osp.join(dest, '.build-constraints.txt')
        with open(constraints, 'w') as f:
            f.write('setuptools<82\n')
        env['PIP_CONSTRAINT'] = constraints
    print('+ pip download', ' '.join(specs), flush=True)
    try:
        subprocess.run(command + specs, check=True, env=env)
    finally:
        if sdist:
            os.remove(constraints)


def download(args):
    os.makedirs(args.dest, exist_ok=True)
    environment = target_environment(args.python_version, args.platform[0])
    freeze = read_freeze(args.freeze)
    specs = read_requirement_lines(args.requirements) + args.extra
    problems, level = [], 0
    pending = [Requirement(spec) for spec in specs]
    while pending:
        level += 1
        have = folder_distributions(args.dest)
        versions = {name: info[0] for name, info in have.items()}
        wanted, sdists = {}, {}
        for req in pending:
            name = canonicalize_name(req.name)
            if not applies(req, environment):
                continue
            if name in NODE_PROVIDED:
                if freeze and not satisfied(req, freeze):
                    problems.append(f'{req} is not met by the node\'s '
                                    f'{name} {freeze.get(name)}')
                continue
            # Taken from the node where its version will do, else shadowed
            # by a download (installs into a venv over the node's Python).
            if satisfied(req, freeze) or satisfied(req, versions):
                continue
            if name in OPENCV:
                name, req = OPENCV_DOWNLOAD, Requirement(OPENCV_DOWNLOAD)
            target = sdists if name in args.sdist else wanted
            target.setdefault(name, []).append(req)
        if not wanted and not sdists:
            break
        combined = [_combine(reqs) for reqs in wanted.values()
                    ], [_combine(reqs) for reqs in sdists.values()]
        if combined[0]:
            pip_download(args.dest, combined[0], args)
        if combined[1]:
            pip_download(args.dest, combined[1], args, sdist=True)
        after = folder_distributions(args.dest)
        pending = []
        for name in [*wanted, *sdists]:
            if name not in after:
                problems.append(f'pip downloaded nothing for {name}')
                continue
            pending += [Requirement(s) for s in after[name][2]]
    if problems:
        sys.exit('wheelhouse: ' + '\n  '.join(['problems:', *problems]))
    with open(osp.join(args.dest, MANIFEST), 'w') as f:
        json.dump(
            dict(
                python_version=args.python_version,
                platforms=args.platform,
                requirements=specs,
                sdists=sorted(args.sdist),
                freeze=dict(sorted(freeze.items()))),
            f,
            indent=1)
    write_sums(args.dest)
    print(f'wheelhouse: {len(folder_distributions(args.dest))} files in '
          f'{args.dest}, {level} levels resolved')


def _combine(reqs):
    """One spec for all requirements on a name (their specifiers joined)."""
    specifiers = ','.join(str(r.specifier) for r in reqs if r.specifier)
    return canonicalize_name(reqs[0].name) + specifiers


def write_sums(folder):
    lines = []
    for base in sorted(os.listdir(folder)):
        if base.endswith(('.whl', '.tar.gz')):
            with open(osp.join(folder, base), 'rb') as f:
                lines.append(f'{hashlib.sha256(f.read()).hexdigest()}  '
                             f'{base}\n')
    with open(osp.join(folder, SUMS), 'w') as f:
        f.writelines(lines)


# ---------------------------------------------------------------- verify
def checksum_problems(folder):
    """Files whose SHA-256 differs from ``SHA256SUMS``, or missing on one
    side."""
    listed, problems = {}, []
    with open(osp.join(folder, SUMS)) as f:
        for line in f:
            digest, base = line.split()
            listed[base] = digest
    files = {
        base
        for base in os.listdir(folder) if base.endswith(('.whl', '.tar.gz'))
    }
    for base in sorted(files - set(listed)):
        problems.append(f'{base} is not in {SUMS}')
    for base in sorted(set(listed) - files):
        problems.append(f'{base} is listed in {SUMS} but missing')
    for base in sorted(files & set(listed)):
        with open(osp.join(folder, base), 'rb') as f:
            if hashlib.sha256(f.read()).hexdigest() != listed[base]:
                problems.append(f'{base}: checksum mismatch')
    return problems


def find_problems(folder, present, check_tags=True, installed=False):
    """What keeps the wheelhouse from installing on its target.

    Args:
        folder (str): The wheelhouse.
        present (dict): name -> version (or None) already on the node.
        check_tags (bool): Whether every wheel must fit the target tags.
        installed (bool): Whether the wheelhouse is installed: its
            packages' requirements must then be met by ``present`` alone.
    """
    with open(osp.join(folder, MANIFEST)) as f:
        manifest = json.load(f)
    environment = target_environment(manifest['python_version'],
                                     manifest['platforms'][0])
    # Checksums first: a corrupt copy explains everything after it, and
    # cannot be read as a wheel.
    problems = checksum_problems(folder)
    if problems:
        return problems
    have = folder_distributions(folder)
    if check_tags:
        tags = target_tags(manifest['python_version'], manifest['platforms'])
        for name, (version, base, _) in have.items():
            if base.endswith('.whl'):
                wheel_tags = {str(t) for t in parse_wheel_filename(base)[3]}
                if not wheel_tags & tags:
                    problems.append(f'{base} does not install on Python '
                                    f'{manifest["python_version"]}, '
                                    f'{manifest["platforms"]}')
    versions = dict(present)
    if not installed:
        versions.update({name: info[0] for name, info in have.items()})
    top = [Requirement(spec) for spec in manifest['requirements']]
    for owner, reqs in [('(top level)', top)] + [
        (f'{name} {info[0]}', [Requirement(s) for s in info[2]])
            for name, info in have.items()
    ]:
        for req in reqs:
            if applies(req, environment) and not satisfied(req, versions):
                problems.append(f'{owner} requires {req}: not in the '
                                'wheelhouse nor on the node')
    return problems


def verify(args):
    present = installed_distributions() if args.installed else read_freeze(
        args.freeze)
    if not args.installed and not args.freeze:
        present = {name: None for name in NODE_PROVIDED}
    problems = find_problems(
        args.dest,
        present,
        check_tags=not args.no_tags,
        installed=args.after_install)
    if problems:
        sys.exit('wheelhouse: ' + '\n  '.join(['problems:', *problems]))
    print(f'wheelhouse {args.dest}: every requirement is met, checksums ok')


def plan(args):
    """Print the files the running Python lacks, in install order."""
    with open(osp.join(args.dest, MANIFEST)) as f:
        manifest = json.load(f)
    running = '%d.%d' % sys.version_info[:2]
    if running != manifest['python_version']:
        sys.exit(f'wheelhouse {args.dest} was made for Python '
                 f'{manifest["python_version"]}, this is Python {running}')
    present = installed_distributions()
    have = folder_distributions(args.dest)
    # Which versions the wheelhouse's own packages and the top level need.
    needs = [Requirement(s) for s in manifest['requirements']]
    for info in have.values():
        needs += [Requirement(s) for s in info[2]]
    for name, (version, base, _) in have.items():
        if base.endswith('.tar.gz') or name in args.exclude:
            continue
        if name in present:
            on_it = [r for r in needs if canonicalize_name(r.name) == name]
            if all(satisfied(r, {name: present[name]}) for r in on_it):
                continue
        print(osp.join(args.dest, base))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('download')
    p.add_argument('dest')
    p.add_argument('--python-version', required=True)
    p.add_argument('--platform', action='append', required=True)
    p.add_argument('--freeze', help="the node's pip freeze")
    p.add_argument('-r', dest='requirements', action='append', default=[])
    p.add_argument('--extra', action='append', default=[])
    p.add_argument(
        '--sdist', action='append', default=[], help='fetched as sdists')
    p = sub.add_parser('verify')
    p.add_argument('dest')
    p.add_argument('--freeze')
    p.add_argument('--installed', action='store_true')
    p.add_argument('--no-tags', action='store_true')
    p.add_argument(
        '--after-install',
        action='store_true',
        help='with --installed: the requirements met by the environment')
    p = sub.add_parser('plan')
    p.add_argument('dest')
    p.add_argument('--exclude', action='append', default=[])
    args = parser.parse_args()
    if getattr(args, 'sdist', None):
        args.sdist = {canonicalize_name(n) for n in args.sdist}
    if getattr(args, 'exclude', None):
        args.exclude = {canonicalize_name(n) for n in args.exclude}
    dict(download=download, verify=verify, plan=plan)[args.command](args)


if __name__ == '__main__':
    main()
