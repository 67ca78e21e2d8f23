"""Training the exposure-correction GAN: data, discriminator, losses, loop and evaluation."""
