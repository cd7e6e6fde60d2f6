FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libmariadb-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY striv ./striv
RUN pip install --no-cache-dir ".[s3,postgres,mysql]"
COPY . .
ENV STRIV_VAR_DIR=/var/lib/striv
# The jsonnet evaluator's Go runtime collects garbage less often: bulk rendering is 1.5-2x faster for some memory.
ENV GOGC=400
RUN mkdir -p /var/lib/striv && STRIV_SECRET_KEY=build python manage.py collectstatic --no-input
EXPOSE 8000
CMD ["gunicorn", "striv.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
