FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=enms.settings.production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
# --build-arg WITH_MLFLOW=true adds the optional model registry client (MLFLOW_TRACKING_URI).
ARG WITH_MLFLOW=false
COPY requirements.txt requirements-mlflow.txt package.json package-lock.json* ./
RUN pip install --no-cache-dir -r requirements.txt && (npm ci --omit=dev || npm install --omit=dev) \
    && if [ "$WITH_MLFLOW" = "true" ]; then pip install --no-cache-dir -r requirements-mlflow.txt; fi
# .dockerignore keeps .env, var/ (SQLite files, the demo password), virtualenvs and caches out.
COPY . .
# Build-time placeholders only: collectstatic needs the production settings to import.
RUN mkdir -p static/vendor \
    && cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/ \
    && SECRET_KEY=build-only-collectstatic ENMS_ARTIFACT_KEY=build-only-collectstatic-not-a-real-signing-key \
       python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin enms
# The code and collected static files stay root-owned and read-only to the service user.
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "enms.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]
