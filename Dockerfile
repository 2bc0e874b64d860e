# LLM Workbench in a container: the same app, port 7860, non-root user (uid 1000, as Spaces).
FROM python:3.11-slim

# Build tools for llama-cpp-python (built from source, portable flags; see requirements.txt).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

# CPU-only torch: pin the CPU wheel index so pip never pulls a CUDA build.
COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt

COPY --chown=user . .
USER user
ENV GRADIO_SERVER_NAME=0.0.0.0 \
    WB_HOST=0.0.0.0 \
    WB_DATA_DIR=/home/user/app/data \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False \
    PYTHONUNBUFFERED=1
RUN python prepare.py
EXPOSE 7860
VOLUME ["/home/user/app/data"]
CMD ["python", "app.py"]
