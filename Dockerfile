FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=enms.settings.production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY requirements.txt package.json package-lock.json* ./
RUN pip install --no-cache-dir -r requirements.txt && (npm ci --omit=dev || npm install --omit=dev)
COPY . .
RUN mkdir -p static/vendor \
    && cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/ \
    && SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "enms.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]
