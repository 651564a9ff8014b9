"""Colorization: a TFX pipeline that learns to colorize grayscale photos, served by TF Serving."""
from setuptools import find_packages, setup

setup(
    name='colorization',
    version='0.1.0',
    description='TFX colorization pipeline, TF Serving signatures and gRPC client',
    python_requires='>=3.10,<3.11',
    packages=find_packages(include=['cli', 'components', 'models', 'pipeline', 'serving',
                                    'kubeflow', 'experiments']),
    package_data={'': ['*.pbtxt', '*.yaml']},
    data_files=[('share/colorization/schema', ['schema/schema.pbtxt'])],
    install_requires=['tfx==1.16.0', 'apache-beam[dill]==2.74.0', 'pillow',
                      'tensorflow-serving-api==2.16.1'],
    extras_require={'kubeflow': ['kfp==2.5.0', 'kfp-pipeline-spec==0.2.2'],
                    'test': ['pytest', 'pytest-timeout', 'pytest-xdist', 'pyyaml']},
    entry_points={'console_scripts': ['colorization = cli.main:main']},
)
