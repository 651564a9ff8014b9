"""Feature names and image geometry: the one place these facts are defined."""

IMAGE_SIZE = 224                 # model input side, pixels
OUTPUT_STRIDE = 4                # the network predicts ab at IMAGE_SIZE / OUTPUT_STRIDE
PREDICTION_SIZE = IMAGE_SIZE // OUTPUT_STRIDE

# Raw tf.Example features written by ImageExampleGen.
IMAGE_KEY = 'image'              # encoded image bytes (JPEG/PNG/BMP/GIF)
LABEL_KEY = 'label'              # class name = sub-folder of the data root
FILENAME_KEY = 'filename'        # path relative to the data root
WIDTH_KEY = 'width'
HEIGHT_KEY = 'height'

# Transformed features written by Transform.
LAB_PNG_KEY = 'lab_png'          # the image's Lab as a uint8 PNG (preprocessing.encode_lab)
# Decoded from it for the network (preprocessing.decode_lab) and its serving inputs/outputs.
L_KEY = 'L'                      # lightness, [IMAGE_SIZE, IMAGE_SIZE, 1], Lab units 0..100
AB_KEY = 'ab'                    # colour target, [IMAGE_SIZE, IMAGE_SIZE, 2], Lab units
AB_HISTOGRAM_KEY = 'ab_histogram'  # full-pass training-set counts over the ab grid

# Serving signature names and tensors.
SERVING_DEFAULT = 'serving_default'
COLORIZE_IMAGE = 'colorize_image'              # image bytes -> PNG
COLORIZE_IMAGE_JPEG = 'colorize_image_jpeg'    # image bytes -> JPEG
SERVING_EXAMPLES = 'serving_examples'
TRANSFORM_FEATURES = 'transform_features'
IMAGE_BYTES_KEY = 'image_bytes'
COLORIZED_PNG_KEY = 'colorized_png'
COLORIZED_JPEG_KEY = 'colorized_jpeg'
EXAMPLES_KEY = 'examples'
LAB_PRED_KEY = 'Lab'             # tf.Example signature output: input L with predicted ab

# Class-aware models (hparams.TrainingConfig.class_aware). The classes: the labels of the training
# split, written by Transform's analyzer as the vocabulary file CLASS_VOCABULARY.
CLASS_VOCABULARY = 'class_vocabulary'
AB_LOGITS_KEY = 'ab_bin_logits'  # network output: ab-bin logits
CLASS_PROBS_KEY = 'class_probs'  # network output / signature output: class probabilities [B, C]
CLASS_CONDITION_KEY = 'class_condition'  # network input [B, C]: forced class probabilities;
                                         # an all-zero row conditions on the head's prediction
CLASS_NAME_KEY = 'class_name'    # signature input (forced; '' = predict) and output (predicted)
CLASS_PROBABILITY_KEY = 'class_probability'  # signature output: probability of class_name
COLORIZE_IMAGE_WITH_CLASS = 'colorize_image_with_class'
CLASSIFY_EXAMPLES = 'classify_examples'  # serialized tf.Examples -> predicted class

MODEL_NAME = 'colorizer'         # TF Serving model name
